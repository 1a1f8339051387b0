"use strict";
var __decorate = (this && this.__decorate) || function (decorators, target, key, desc) {
    var c = arguments.length, r = c < 3 ? target : desc === null ? desc = Object.getOwnPropertyDescriptor(target, key) : desc, d;
    if (typeof Reflect === "object" && typeof Reflect.decorate === "function") r = Reflect.decorate(decorators, target, key, desc);
    else for (var i = decorators.length - 1; i >= 0; i--) if (d = decorators[i]) r = (c < 3 ? d(r) : c > 3 ? d(target, key, r) : d(target, key)) || r;
    return c > 3 && r && Object.defineProperty(target, key, r), r;
};
var __metadata = (this && this.__metadata) || function (k, v) {
    if (typeof Reflect === "object" && typeof Reflect.metadata === "function") return Reflect.metadata(k, v);
};
var __param = (this && this.__param) || function (paramIndex, decorator) {
    return function (target, key) { decorator(target, key, paramIndex); }
};
Object.defineProperty(exports, "__esModule", { value: true });
// nest3: handles "order shipped" from Kafka (HTTP + Kafka hybrid app).
require("./tracer");
require("reflect-metadata");
const common_1 = require("@nestjs/common");
const core_1 = require("@nestjs/core");
const microservices_1 = require("@nestjs/microservices");
const api_1 = require("@opentelemetry/api");
const topics_1 = require("../topics");
let ShippingController = class ShippingController {
    shipped(order) {
        // Runs inside the process span of the message: its own spans are children of it.
        const span = api_1.trace.getTracer('nest3').startSpan('record-shipment');
        span.setAttribute('order.id', String(order.id));
        span.end();
    }
};
__decorate([
    (0, microservices_1.EventPattern)(topics_1.ORDER_SHIPPED),
    __param(0, (0, microservices_1.Payload)()),
    __metadata("design:type", Function),
    __metadata("design:paramtypes", [Object]),
    __metadata("design:returntype", void 0)
], ShippingController.prototype, "shipped", null);
ShippingController = __decorate([
    (0, common_1.Controller)()
], ShippingController);
let AppModule = class AppModule {
};
AppModule = __decorate([
    (0, common_1.Module)({ controllers: [ShippingController] })
], AppModule);
async function bootstrap() {
    await (0, topics_1.ensureTopics)([topics_1.ORDER_SHIPPED]);
    const app = await core_1.NestFactory.create(AppModule, { logger: ['error', 'warn'] });
    app.connectMicroservice({
        transport: microservices_1.Transport.KAFKA,
        options: {
            client: { clientId: 'nest3', brokers: topics_1.brokers },
            consumer: { groupId: process.env.GROUP_PREFIX ? `${process.env.GROUP_PREFIX}nest3` : 'nest3' },
            subscribe: { fromBeginning: true },
        },
    });
    await app.startAllMicroservices();
    await app.listen(Number(process.env.PORT ?? 3003), '127.0.0.1');
    console.log('nest3 ready');
}
bootstrap();
